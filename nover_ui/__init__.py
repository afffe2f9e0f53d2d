"""The Gradio dashboard. Reads everything from the Store; writes only run requests and cancel flags.

Never imports the training stack (torch, transformers, peft, trl, bitsandbytes): a test enforces it.
"""
