"""Analyse one symbol on one date with whatever answers by default (the deployed
production set, else the expert rules), and show what each agent said."""

from stockagents.orchestration.coordinator import SystemCoordinator

with SystemCoordinator() as coordinator:
    result = coordinator.analyze_symbol("AAPL", as_of="2023-06-30")

print(f"{result.symbol} on {result.as_of} ({result.model_set}): {result['recommendation']}")
print(f"confidence {result['confidence']:.2f}: {result.decision.reasoning}")
for name, signal in result.signals.items():
    print(
        f"  {name:<11} {signal.signal.value:<8} score {signal.score:+.2f}  {signal.reasoning[:70]}"
    )
