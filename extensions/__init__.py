"""Discord adapters: one lightbulb Loader per feature. Thin: no SQL, no HTTP, no business rules."""
