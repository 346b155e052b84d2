//! OS adapters: the only place that talks to the kernel.
