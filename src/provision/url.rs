//! (Implementation owned by the provisioning work.)
