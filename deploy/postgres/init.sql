CREATE DATABASE registry OWNER ndtms;
