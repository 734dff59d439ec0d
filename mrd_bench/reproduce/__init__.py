"""`mrd-bench reproduce`: the MRD and CUD papers' claims, checked with mrd_bench's own tools."""
