"""BatchTranslator: the project's Beam batch-translation job as a TFX component, after the push."""
