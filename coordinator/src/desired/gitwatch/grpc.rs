//! `galley.v1.DeployService`: thin gRPC handlers over [`TagWriter`]. Each converts the request,
//! writes the tag, asks the git watch (if any) to re-list the repository at once so desired
//! state follows without waiting for the poll, and converts the reply. Errors become
//! `tonic::Status` in exactly one place ([`From<TagError>`]).

use std::sync::Arc;

use galley_common::refs::DesiredState;
use galley_proto::v1::deploy_service_server::{DeployService, DeployServiceServer};
use galley_proto::v1::{InstanceStateRequest, MarkForDeploymentRequest, TagKind, TagResponse};
use tonic::{Request, Response, Status};

use super::GitWatchHandle;
use super::push::PushError;
use super::tags::{TagError, TagRequest, TagWriter};
use crate::error_chain::ErrorChain;

/// The service implementation.
pub struct DeployApi {
    writer: Arc<TagWriter>,
    watch: Option<GitWatchHandle>,
}

/// The tonic server to mount: `Server::builder().add_service(deploy_service(writer, watch))`.
pub fn deploy_service(
    writer: Arc<TagWriter>,
    watch: Option<GitWatchHandle>,
) -> DeployServiceServer<DeployApi> {
    DeployServiceServer::new(DeployApi { writer, watch })
}

impl From<TagError> for Status {
    fn from(e: TagError) -> Self {
        let message = ErrorChain(&e).to_string();
        match e {
            TagError::InvalidArgument { .. } => Status::invalid_argument(message),
            TagError::UnknownService { .. }
            | TagError::UnknownInstance { .. }
            | TagError::UnknownDeployGroup { .. }
            | TagError::NotDeployed { .. }
            | TagError::Push(PushError::ShaNotInRepo { .. }) => Status::not_found(message),
            TagError::TagExists { .. } | TagError::Push(PushError::Rejected { .. }) => {
                Status::failed_precondition(message)
            }
            TagError::Config { .. } => Status::failed_precondition(message),
            TagError::Unreachable { .. } | TagError::Push(PushError::Git { .. }) => {
                Status::unavailable(message)
            }
            TagError::Timeout { .. } => Status::deadline_exceeded(message),
        }
    }
}

impl DeployApi {
    async fn write<T>(
        &self,
        request: &Request<T>,
        requested_by: &str,
        tag: TagRequest,
        kind: TagKind,
    ) -> Result<Response<TagResponse>, Status> {
        let who = if requested_by.trim().is_empty() {
            let peer = request
                .remote_addr()
                .map_or_else(|| "unknown".to_string(), |a| a.ip().to_string());
            format!("unknown@{peer}")
        } else {
            requested_by.trim().to_string()
        };
        let written = self.writer.write(&tag, &who).await?;
        if let Some(watch) = &self.watch {
            let service = match &tag {
                TagRequest::MarkForDeployment { service, .. }
                | TagRequest::SetState { service, .. } => service,
            };
            watch.refresh(service);
        }
        Ok(Response::new(TagResponse {
            ref_name: written.ref_name,
            git_sha: written.sha,
            git_url: written.git_url,
            kind: kind as i32,
        }))
    }

    async fn set_state(
        &self,
        request: Request<InstanceStateRequest>,
        state: DesiredState,
    ) -> Result<Response<TagResponse>, Status> {
        let r = request.get_ref().clone();
        let kind = match state {
            DesiredState::Start => TagKind::Start,
            DesiredState::Stop => TagKind::Stop,
        };
        let tag = TagRequest::SetState {
            service: r.service,
            cluster: r.cluster,
            instance: r.instance,
            state,
        };
        self.write(&request, &r.requested_by, tag, kind).await
    }
}

#[tonic::async_trait]
impl DeployService for DeployApi {
    async fn mark_for_deployment(
        &self,
        request: Request<MarkForDeploymentRequest>,
    ) -> Result<Response<TagResponse>, Status> {
        let r = request.get_ref().clone();
        let tag = TagRequest::MarkForDeployment {
            service: r.service,
            deploy_group: r.deploy_group,
            sha: r.git_sha,
        };
        self.write(&request, &r.requested_by, tag, TagKind::Deploy)
            .await
    }

    async fn start(
        &self,
        request: Request<InstanceStateRequest>,
    ) -> Result<Response<TagResponse>, Status> {
        self.set_state(request, DesiredState::Start).await
    }

    async fn stop(
        &self,
        request: Request<InstanceStateRequest>,
    ) -> Result<Response<TagResponse>, Status> {
        self.set_state(request, DesiredState::Stop).await
    }

    async fn restart(
        &self,
        request: Request<InstanceStateRequest>,
    ) -> Result<Response<TagResponse>, Status> {
        self.set_state(request, DesiredState::Start).await
    }
}
