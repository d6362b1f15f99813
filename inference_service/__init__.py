"""The HTTP inference service for a trained model, with its monitoring (not lesson material).

Notebooks in hackathons/to_production start it and call it; the mentees' package is ``shared``.
"""
