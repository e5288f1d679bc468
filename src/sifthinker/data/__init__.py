"""The data engine (docs/method.md–§6): grounded VQA → depth → reverse expansion → written, validated SIF chains."""
