"""napari plugin glue: reader, writers, sample data and dock widgets.

Readers and writers never import Qt and never open dialogs.
"""
