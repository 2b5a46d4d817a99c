"""Server logic: pure services that never import FastAPI (geolocation, detectors, ...)."""
