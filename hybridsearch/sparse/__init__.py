"""The BM25 leg: text analysis, postings, scoring variants, top-k and their files."""
