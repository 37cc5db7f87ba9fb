"""The Dask engine: the same pure feature, training and scoring code, per partition.

`[compute] engine = "dask"` (or `--engine dask`) sends `leadml train`, `score`, `drift`
and `demo-data` here; the local engine never imports this package, so Dask is imported
only when it is chosen. The wall: features/ and model/ stay free of Dask; this package
calls them on pandas partitions (`map_partitions`) and gathers only what is small.

- `cluster`: connect to a scheduler or start a LocalCluster; the dashboard link.
- `partition`: leads and their events co-partitioned by lead_id (whole leads per partition).
- `read`: partitioned Parquet (folders or fsspec URLs) read and validated per partition.
- `generate`: `demo-data --partitions` drawn and written by the workers.
- `features`: snapshot rows and their features per partition; one spec from summed counts.
- `train`: lightgbm.dask on the whole train window, the rest on a gathered sample.
- `standard`: the one-cutoff view of a snapshot model (oracle, drift reference).
- `record`: what the training job logs and gates with, gathered from the partitions.
"""
