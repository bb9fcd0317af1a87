"""``dosefinding.v1.SimulationService``: dose paths (and, with issue 6, simulation)."""

from __future__ import annotations

import grpc

from dosefinding.v1 import simulation_service_pb2 as pb
from dosefinding.v1 import simulation_service_pb2_grpc as pb_grpc
from dosefinding_server.engine.paths import dose_paths

from .translate import design_from_proto, outcomes_from_proto


class SimulationService(pb_grpc.SimulationServiceServicer):
    """Translates SimulationService calls to the engine."""

    def GetDosePaths(self, request: pb.GetDosePathsRequest, context: grpc.ServicerContext
                     ) -> pb.GetDosePathsResponse:
        design = design_from_proto(request.design)
        previous = outcomes_from_proto(request.previous_outcomes, design, "previous_outcomes")
        next_dose = request.next_dose if request.HasField("next_dose") else None
        nodes = dose_paths(design, previous, tuple(request.cohort_sizes), next_dose)
        response = pb.GetDosePathsResponse()
        for node in nodes:
            entry = response.nodes.add(node_id=node.node_id, depth=node.depth, pathway=node.pathway,
                                       outcomes=node.outcomes, continue_trial=node.continues)
            if node.parent_id is not None:
                entry.parent_id = node.parent_id
            if node.next_dose is not None:
                entry.next_dose = node.next_dose
        return response
