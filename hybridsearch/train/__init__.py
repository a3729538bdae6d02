"""Adapting the encoder to a corpus: pair mining, hard negatives, contrastive training."""
