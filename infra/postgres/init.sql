-- One server, three databases: `relay` (prediction log, monitoring history; made by POSTGRES_DB),
-- `mlflow` (tracking and registry) and `prefect` (the Prefect server's state).
CREATE DATABASE mlflow;
CREATE DATABASE prefect;
