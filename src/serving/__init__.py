"""Serving: the BentoML service, the command line and the web page, on top of the library and
the model. Modules load torch only where they analyse audio, so library questions start fast."""
