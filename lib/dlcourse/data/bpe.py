"""Byte-pair encoding, the course's reference (chapter 14 asks students to write it).

Text starts as its UTF-8 bytes, token ids 0..255. Training repeats: count
every pair of neighbouring tokens, give the most frequent pair the next free
id (256, 257, ...) and replace its occurrences, scanning left to right, so
that an overlapping run such as ``a a a`` with the pair ``(a, a)`` becomes
``X a``, not ``X X``. Encoding applies the learned merges in the order they
were learned; decoding expands every id back into its bytes.
"""

from collections import Counter

__all__ = ["FIRST_MERGE", "bpe_decode", "bpe_encode", "bpe_train", "merge_pair", "pair_counts"]

FIRST_MERGE = 256  # ids 0..255 are the bytes themselves


def pair_counts(tokens):
    """How often each pair of neighbouring tokens occurs: a Counter {(a, b): count}."""
    return Counter(zip(tokens, tokens[1:]))


def merge_pair(tokens, pair, new_token):
    """A new list: ``tokens`` with each ``pair``, found from the left, made ``new_token``."""
    merged, i = [], 0
    while i < len(tokens):
        if i + 1 < len(tokens) and (tokens[i], tokens[i + 1]) == tuple(pair):
            merged.append(new_token)
            i += 2  # both tokens are used: the second cannot start another pair
        else:
            merged.append(tokens[i])
            i += 1
    return merged


def bpe_train(text, n_merges):
    """The list of merged pairs, most frequent first; merge k makes token FIRST_MERGE + k."""
    tokens, merges = list(text.encode("utf-8")), []
    for k in range(n_merges):
        counts = pair_counts(tokens)
        if not counts:
            break
        pair = max(counts, key=counts.get)  # the first seen wins a tie
        tokens = merge_pair(tokens, pair, FIRST_MERGE + k)
        merges.append(pair)
    return merges


def bpe_encode(text, merges):
    """Token ids of ``text``: its bytes, then each merge applied in the order learned."""
    tokens = list(text.encode("utf-8"))
    for k, pair in enumerate(merges):
        tokens = merge_pair(tokens, pair, FIRST_MERGE + k)
    return tokens


def bpe_decode(tokens, merges):
    """The text of token ids made with ``merges`` (the inverse of ``bpe_encode``)."""
    pieces = {i: bytes([i]) for i in range(FIRST_MERGE)}
    for k, (a, b) in enumerate(merges):
        pieces[FIRST_MERGE + k] = pieces[a] + pieces[b]
    return b"".join(pieces[t] for t in tokens).decode("utf-8", errors="replace")
