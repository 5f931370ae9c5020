"""Prepare training data: tokenize text or JSONL files into a memory-mapped token file.

Documents are split into train and validation sets by a seeded permutation (no document is in
both), tokenized with a local Hugging Face tokenizer or with a byte-level BPE trained on the
training documents, separated by the end-of-text token, and written as train.bin / val.bin
(uint16 or uint32) with meta.json and the tokenizer beside them. The same inputs and seed give
the same files.

Inputs: .jsonl/.json files (one object per line, text under --text-field), or any other UTF-8
text file (one document per file, or per blank-line-separated paragraph with --paragraphs);
folders are searched recursively.

Examples:
  taskladder data prepare corpus/*.jsonl --out data/corpus --tokenizer ~/models/olmo2-tokenizer
  taskladder data prepare /usr/share/doc/python3-doc/ --paragraphs --bpe-vocab 1024 --out data/micro
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True,
                                parser_class=type(parser))
    prep = sub.add_parser("prepare", help="tokenize text/JSONL into train.bin, val.bin and meta.json",
                          description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    prep.add_argument("inputs", nargs="+", help="text or JSONL files, or folders of them")
    prep.add_argument("--out", required=True, help="output folder")
    which = prep.add_mutually_exclusive_group(required=True)
    which.add_argument("--tokenizer", help="local Hugging Face tokenizer folder")
    which.add_argument("--bpe-vocab", type=int, metavar="N",
                       help="train a byte-level BPE of N entries on the training documents")
    prep.add_argument("--val-fraction", type=float, default=0.05,
                      help="fraction of documents held out for validation (default: 0.05)")
    prep.add_argument("--seed", type=int, default=0, help="seed of the train/validation split (default: 0)")
    prep.add_argument("--text-field", default="text", help="JSONL field holding the text (default: text)")
    prep.add_argument("--paragraphs", action="store_true",
                      help="split text files into documents at blank lines")
    prep.add_argument("--name", help="corpus name used in loss column names (default: the output folder's name)")


def run(args: argparse.Namespace) -> int:
    from ..train.data import prepare_data

    prepared = prepare_data(args.inputs, args.out, tokenizer=args.tokenizer, bpe_vocab_size=args.bpe_vocab,
                            val_fraction=args.val_fraction, seed=args.seed, text_field=args.text_field,
                            paragraphs=args.paragraphs, name=args.name)
    print(f"{prepared.path}: {prepared.train_tokens:,} training tokens from {prepared.train_documents:,} documents, "
          f"{prepared.val_tokens:,} validation tokens from {prepared.val_documents:,}; vocabulary {prepared.vocab_size:,} "
          f"({prepared.dtype})")
    return 0
