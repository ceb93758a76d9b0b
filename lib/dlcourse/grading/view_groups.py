"""Which exercises of an assignment can be graded in one sandbox.

A sandbox's view hides the references of the exercises it runs. Starting a
sandbox costs about a second (bubblewrap, Python, NumPy, matplotlib), so
exercises share one whenever nothing one of them needs is hidden for
another: the same ``forbid``, and no reference stubbed for a member named by
another member's setup cells, driver or call, or bound by its ``provided``.
Chapter 02's four backward functions then need one sandbox, not four;
chapter 04's two-layer exercise, which is given ``dense_backward``, keeps a
sandbox apart from the exercise that hides it.

A student's code in a shared sandbox cannot call the course's version of any
function graded there: the assignment grades the student's own.
"""

import ast


def stubbed(exercise):
    """The references an exercise's view replaces with stubs."""
    return {*exercise.hidden, *exercise.equivalents}


def _first_name(reference):
    # "module:Dense.backward" -> "Dense": code that names the class may reach the method
    return reference.split(":", 1)[-1].split(".", 1)[0]


def _identifiers(source):
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None  # unknown: treat as naming everything
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.alias):
            names.update((node.name.rsplit(".", 1)[-1], node.asname or ""))
    return names


def _needs_none_of(exercise, references, setup_sources):
    """Whether ``exercise`` can run with ``references`` stubbed (its own are anyway)."""
    others = set(references) - stubbed(exercise)
    if not others:
        return True
    if others & set(exercise.provided.values()):
        return False
    texts = [setup_sources.get(gid, "") for gid in exercise.setup]
    texts += [exercise.driver, exercise.call]
    named = set()
    for text in texts:
        found = _identifiers(text)
        if found is None:
            return False
        named |= found
    return not named & {_first_name(ref) for ref in others}


def can_share(group, setup_sources):
    """Whether the exercises in ``group`` can run in one sandbox."""
    if len({tuple(e.forbid) for e in group}) > 1:
        return False
    references = set().union(*map(stubbed, group))
    return all(_needs_none_of(e, references, setup_sources) for e in group)


def group_exercises(exercises, setup_sources):
    """``exercises`` in groups that each share a sandbox (first fit, in notebook order)."""
    groups = []
    for exercise in exercises:
        for group in groups:
            if can_share([*group, exercise], setup_sources):
                group.append(exercise)
                break
        else:
            groups.append([exercise])
    return groups
