"""Trading alerts: rules over the SDK's own metrics, an in-process engine, notification channels."""
