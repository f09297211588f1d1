"""fiubench: test whether a vision-language model can really forget a person.

Reimplementation (and extension) of FIUBench, "Benchmarking Vision Language Model
Unlearning via Fictitious Facial Identity Dataset" (ICLR 2025, arXiv 2411.03554).
"""

__version__ = "0.1.0"
