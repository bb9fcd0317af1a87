"""The gRPC layer: translates messages to engine calls and back; holds no statistics."""
