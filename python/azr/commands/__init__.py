"""``azr`` subcommands that live in their own modules. Each has ``register(subparsers)``; none imports
torch or transformers at import time, so ``azr verify`` stays fast and the core install light."""
