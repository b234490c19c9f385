import ServiceLifecycle

/// True once the task is cancelled or its service group is shutting down gracefully.
public var stopRequested: Bool {
    Task.isCancelled || Task.isShuttingDownGracefully
}
