"""Point-in-time features: pure functions of (leads, events, cutoff, config).

- `lead_source`, `engagement`, `firmographics`: one module per feature family.
- `build`: `feature_columns` (arrays in, feature arrays out: the serving path) and
  `build_features` (the same through DataFrames: training and batch scoring).
- `columns`, `events`, `ids`: inputs as arrays (text as codes, timestamps as int64
  microseconds), events resolved to their leads, the fast lead-id lookup.
- `kernels`: the numba-compiled loops (engagement, size bands), cached on disk.
- `spec`: `FeatureSpec`, learned on training rows (category levels, monotone constraints)
  and shipped with the model as JSON; `encode_columns` / `encode` / `encode_numpy` make
  the model matrix.
- `matrix`: category values -> level codes, and `frame_matrix`, the one conversion of an
  encoded frame into LightGBM's matrix (TreeSHAP, MLflow's example, `encode_numpy`).
- `flat`, `idlike`: a flat CRM export's columns as features, and the id-like columns
  training sets aside.
- `describe`: one readable sentence per feature value, for sales; `field_words`: one per
  business field of a lead, read from its own columns (what reasons say); `words`: column names
  in words and numbers rounded with their unit (the one humaniser and formatter).
"""
