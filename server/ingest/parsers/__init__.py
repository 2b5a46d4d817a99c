"""One module per input format; each exposes `parse(data, *, year=None, now=None)`."""
