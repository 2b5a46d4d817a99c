"""Sign-in ingestion: parsers that turn identity-source logs into normalised `SignIn` records,
and pull connectors that fetch them. Nothing here opens files or touches the database."""

from server.ingest.formats import FORMATS, UnknownFormat, parse
from server.ingest.record import Rejection, SignIn

__all__ = ["FORMATS", "Rejection", "SignIn", "UnknownFormat", "parse"]
