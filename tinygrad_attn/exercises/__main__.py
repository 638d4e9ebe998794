"""python -m tinygrad_attn.exercises list | show | starter | check | make-student | make-notebooks"""
import sys

from ..teach.exercises.cli import main

if __name__ == "__main__":
    sys.exit(main())
