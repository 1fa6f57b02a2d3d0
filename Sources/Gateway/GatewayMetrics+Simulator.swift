import Operations
import Simulator

/// The webhooks count their drops in the gateway's metrics.
extension GatewayMetrics: WebhookMetrics {}
