"""Where heavy work runs besides this process: ``dask`` (a Dask cluster). No Dask import at package load."""
