"""The pure part of graphsaver: records, codecs and the storage operations, with no I/O."""
