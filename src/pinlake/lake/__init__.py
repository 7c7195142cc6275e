"""The lake: content-addressed objects plus one row per resource version, in Lance tables."""

from pinlake.errors import InputFileError, InvalidQueryError, NoDataError, NotFoundError, ValidationError
from pinlake.lake.lake import Lake
from pinlake.lake.models import Data, DataSource, ErrorManager, MultiData, Tag, UploadError
from pinlake.lake.processing import ProcessingResult, list_processings, register_processing
from pinlake.lake.upload import Ingested, name_of, walk_files

__all__ = [
    "Lake",
    "Data",
    "MultiData",
    "Tag",
    "DataSource",
    "ErrorManager",
    "Ingested",
    "name_of",
    "walk_files",
    "UploadError",
    "register_processing",
    "list_processings",
    "ProcessingResult",
    "NotFoundError",
    "InvalidQueryError",
    "NoDataError",
    "InputFileError",
    "ValidationError",
]
