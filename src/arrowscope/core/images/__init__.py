"""Image I/O: schema, codecs, metadata, stores, lazy images, datasets, writers."""
