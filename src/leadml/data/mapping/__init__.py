"""A flat CRM export: one row per lead, engagement already rolled up, a converted flag.

- `mapping.config`: the `[dataset]` section of `leadml.toml` (`DatasetConfig`), pure:
  roles, types, missing tokens, type inference.
- `mapping.read`: `read_flat` reads the file as text with that mapping.
- `mapping.guess`: init-config's guesses (values first, names as hints), pure; its
  vocabulary of name and value hints lives in `mapping.hints`;
- `mapping.draft`: the draft mapping of `leadml init-config`, every guess marked in a
  comment with its evidence.

The labels of a flat export come from `leadml.model.labels.flat_labels`; the features
live in `features/flat.py`. This package re-exports nothing, so importing the pure half
never loads the reader.
"""
