"""Data model: schema, safe kinds, the YAML reader, errors, loader, rules and derived facts."""
