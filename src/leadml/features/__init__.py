"""Point-in-time features: pure functions of (leads, events, cutoff, config).

- `lead_source`, `engagement`, `firmographics`: one module per feature family.
- `build`: `build_features` joins the families into the raw feature frame.
- `spec`: `FeatureSpec`, learned on training rows (category levels, monotone constraints)
  and shipped with the model as JSON; `encode` / `encode_numpy` make the model matrix.
- `describe`: one readable sentence per feature value, for sales.
"""
