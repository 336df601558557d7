"""Write the CRUXEval paper's four prompt templates as the JSON ``azr eval --cruxeval-prompts`` reads.

    python scripts/cruxeval_prompts.py PATH/TO/cruxeval/prompts.py OUT.json

``prompts.py`` is the file of that name at the root of a checkout of facebookresearch/cruxeval (MIT
licence). It defines ``make_{direct,cot}_{output,input}_prompt(s)``, each taking ``(code, input)`` or
``(code, output)`` and returning the few-shot prompt; this script loads that file, calls each function
with the placeholders ``{code}`` and ``{input}``/``{output}``, and writes the four results with a
``source`` note. azr itself ships no template text: like the dataset, the templates are data the user
brings.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

FUNCTIONS = {
    "direct_output": ("make_direct_output_prompt", ("{code}", "{input}")),
    "cot_output": ("make_cot_output_prompt", ("{code}", "{input}")),
    "direct_input": ("make_direct_input_prompt", ("{code}", "{output}")),
    "cot_input": ("make_cot_input_prompt", ("{code}", "{output}")),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prompts_py", help="prompts.py of a facebookresearch/cruxeval checkout")
    parser.add_argument("out", help="the JSON file to write")
    args = parser.parse_args()
    path = Path(args.prompts_py)
    spec = importlib.util.spec_from_file_location("cruxeval_prompts", path)
    if spec is None or spec.loader is None:
        print(f"{path}: not a Python file", file=sys.stderr)
        return 2
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    templates = {"source": f"{path} (facebookresearch/cruxeval prompts.py, MIT License)"}
    for key, (name, placeholders) in FUNCTIONS.items():
        function = getattr(module, name, None)
        if function is None:
            print(f"{path}: no function {name}; is this CRUXEval's prompts.py?", file=sys.stderr)
            return 2
        templates[key] = function(placeholders)
    Path(args.out).write_text(json.dumps(templates, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}: {', '.join(FUNCTIONS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
