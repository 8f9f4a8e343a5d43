"""Benchmarks: landrec beside the peer tool named in each issue, in one run (`make bench`)."""
