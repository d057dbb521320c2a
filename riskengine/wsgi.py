import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "riskengine.settings")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

application = get_wsgi_application()

from predictions.warmup import warm_up  # noqa: E402  (needs the app registry)

warm_up()
