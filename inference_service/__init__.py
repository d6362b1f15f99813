"""The HTTP inference service for a trained model, with its monitoring (not lesson material).

Notebooks in hackathons/to_production start it and call it; the mentees' package is ``shared``.

- ``bundle``: save a trained network with everything needed to serve it (``save_bundle``), load it back
  (``load_bundle``);
- ``images``: turn uploaded bytes into a picture, or say why they are not one;
- ``app``: the FastAPI application (``create_app``): ``POST /predict``, ``GET /health``, ``GET /metrics``;
- ``monitoring``: the prediction log and the drift check (population stability index, KS test);
- ``server``: run the service in a child process and stop it reliably (notebooks, tests, benchmark);
- ``__main__``: ``python -m inference_service serve --bundle DIR`` and ``... drift --log FILE --bundle DIR``.
"""
