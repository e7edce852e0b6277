//! Marathon v2 emulator (with a simulated Mesos cluster and the Mesos master state endpoints).
