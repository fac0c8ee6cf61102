"""Body composition on the platform side: the job's slice resolution, result
storage, measurement lists, exports, plots and the cohort page. The worker
half is `ml_worker.bodycomp` (never imported here: tasks go by name)."""
