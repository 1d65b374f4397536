# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name


class ModuleDocFragment(object):
    """S3 connection options shared by the runbook.ops S3 modules.

    ``DOCUMENTATION``: the options at the top level (s3_backup). ``BACKUP_SUBOPTIONS``
    (``runbook.ops.s3.backup_suboptions``): the same options, and the key prefix, as the suboptions
    of a ``s3`` dict option (pg_restore, backup_retention), which the module describes itself.
    Both are plain string literals: ansible-test's yamllint reads them without running the code,
    so keep the two copies of each option's text in step (a unit test compares them).
    """

    DOCUMENTATION = r"""
options:
  bucket:
    description:
      - Name of the S3 bucket.
    type: str
    required: true
  endpoint_url:
    description:
      - URL of an S3-compatible endpoint (MinIO, Ceph, moto), for example C(http://127.0.0.1:9000).
        Path-style addressing is used when it is set. Defaults to AWS.
      - Defaults to E(AWS_ENDPOINT_URL_S3), then E(AWS_ENDPOINT_URL), when set.
    type: str
  region:
    description:
      - Region of the bucket.
      - Defaults to E(AWS_REGION), then E(AWS_DEFAULT_REGION), when set.
    type: str
    default: us-east-1
  profile:
    description:
      - Named profile of the AWS shared configuration and credentials files.
      - Defaults to E(AWS_PROFILE) when set. Keys given in the access and secret key options win over the profile's.
    type: str
  access_key:
    description:
      - Access key ID. Defaults to E(AWS_ACCESS_KEY_ID) when set; otherwise boto3's usual sources apply
        (shared files, instance role).
      - Never shown in results or messages.
    type: str
    aliases: [aws_access_key_id]
  secret_key:
    description:
      - Secret access key, given together with O(access_key). Never shown in results or messages.
      - Defaults to E(AWS_SECRET_ACCESS_KEY) when set.
    type: str
    aliases: [aws_secret_access_key]
  session_token:
    description:
      - Session token for temporary credentials. Never shown in results or messages.
      - Defaults to E(AWS_SESSION_TOKEN) when set.
    type: str
  validate_certs:
    description:
      - Verify the endpoint's TLS certificate.
    type: bool
    default: true
  retries:
    description:
      - Most attempts per request (botocore's standard retry mode, with exponential backoff). A throttling or
        server error that outlasts them is tried again, twice at most, after 1 and 2 seconds.
    type: int
    default: 5
  s3_connect_timeout:
    description:
      - Seconds to wait for a connection to the endpoint.
    type: float
    default: 10
  s3_read_timeout:
    description:
      - Seconds to wait for data from the endpoint.
    type: float
    default: 60

requirements:
  - boto3 on the host that runs the module.
notes:
  - "The environment variables are read in the environment of the module's process, on the host that
    runs it: the controller or execution environment (where AWX credentials inject them) for a task
    delegated to C(localhost), the managed host otherwise. An option set in the task or in
    C(module_defaults) always wins over its variable."
"""

    BACKUP_SUBOPTIONS = r"""
options:
  s3:
    type: dict
    suboptions:
      prefix:
        description:
          - Key prefix the backups were uploaded under.
        type: str
        default: ""

      bucket:
        description:
          - Name of the S3 bucket.
        type: str
        required: true
      endpoint_url:
        description:
          - URL of an S3-compatible endpoint (MinIO, Ceph, moto), for example C(http://127.0.0.1:9000).
            Path-style addressing is used when it is set. Defaults to AWS.
          - Defaults to E(AWS_ENDPOINT_URL_S3), then E(AWS_ENDPOINT_URL), when set.
        type: str
      region:
        description:
          - Region of the bucket.
          - Defaults to E(AWS_REGION), then E(AWS_DEFAULT_REGION), when set.
        type: str
        default: us-east-1
      profile:
        description:
          - Named profile of the AWS shared configuration and credentials files.
          - Defaults to E(AWS_PROFILE) when set. Keys given in the access and secret key options win over the profile's.
        type: str
      access_key:
        description:
          - Access key ID. Defaults to E(AWS_ACCESS_KEY_ID) when set; otherwise boto3's usual sources apply
            (shared files, instance role).
          - Never shown in results or messages.
        type: str
        aliases: [aws_access_key_id]
      secret_key:
        description:
          - Secret access key, given together with O(s3.access_key). Never shown in results or messages.
          - Defaults to E(AWS_SECRET_ACCESS_KEY) when set.
        type: str
        aliases: [aws_secret_access_key]
      session_token:
        description:
          - Session token for temporary credentials. Never shown in results or messages.
          - Defaults to E(AWS_SESSION_TOKEN) when set.
        type: str
      validate_certs:
        description:
          - Verify the endpoint's TLS certificate.
        type: bool
        default: true
      retries:
        description:
          - Most attempts per request (botocore's standard retry mode, with exponential backoff). A throttling or
            server error that outlasts them is tried again, twice at most, after 1 and 2 seconds.
        type: int
        default: 5
      s3_connect_timeout:
        description:
          - Seconds to wait for a connection to the endpoint.
        type: float
        default: 10
      s3_read_timeout:
        description:
          - Seconds to wait for data from the endpoint.
        type: float
        default: 60
"""
