"""Mermaid rendering: nodes by class, actions as edge labels, nested flows as subgraphs, cycles terminate."""

import pocketflow as pf


class Load(pf.Node):
    pass


class Check(pf.Node):
    pass


class Save(pf.Node):
    pass


class Fix(pf.Node):
    pass


def test_mermaid_draws_actions_subgraphs_and_cycles():
    check, fix = Check(), Fix()
    check - "bad" >> fix
    fix >> check  # a cycle
    inner = pf.Flow(start=check)
    load = Load()
    load >> inner >> Save()
    assert pf.Flow(start=load).to_mermaid() == (
        "flowchart TD\n"
        '    n1["Load"]\n'
        "    n1 --> n2\n"
        '    subgraph n2["Flow"]\n'
        '        n3["Check"]\n'
        '        n3 -->|"bad"| n4\n'
        '        n4["Fix"]\n'
        "        n4 --> n3\n"
        "    end\n"
        "    n2 --> n5\n"
        '    n5["Save"]\n'
    )


def test_mermaid_escapes_labels_and_handles_empty_flow():
    a = Load()
    a - 'say "hi" | bye' >> Save()
    text = pf.Flow(start=a).to_mermaid()
    assert '-->|"say #quot;hi#quot; #124; bye"|' in text
    assert pf.AsyncFlow().to_mermaid() == "flowchart TD\n"
