"""Profile tables: keys, links to images, filters, QC, batch work."""
