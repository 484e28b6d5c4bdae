"""ExampleValidator with a curated schema and drift against the last blessed model's data; stops bad data."""
