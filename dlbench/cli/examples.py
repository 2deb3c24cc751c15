"""The examples every command's help ends with."""

EXAMPLES = """
\b
Examples:
  dlbench list
  dlbench run                                   # lenet5 on torch, real digits, about a minute
  dlbench run --backend torch --model alexnet --dataset synthetic --steps 10 --batch-size 16
  dlbench run --backend tf --model lenet5 --dataset fashion-mnist --epochs 5 -o xla=true
  dlbench verify --model lenet5 --backend torch,tensorflow,jax
"""
