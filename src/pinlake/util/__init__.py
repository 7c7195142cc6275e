"""Small helpers with no pinlake imports: the clock, lazy namespaces, SQL literals, write-behind, media
paths and types, and the fault-injection points."""
